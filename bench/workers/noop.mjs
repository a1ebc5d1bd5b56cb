// A Piscina task that does nothing: what is left is the pool's own cost per call.
export default function noop(value) {
  return value;
}

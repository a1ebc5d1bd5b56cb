/**
 * Semantic triples for the GloVe model: the anchor should be closer (cosine) to
 * the positive than to the negative. Positives paraphrase the anchor with
 * mostly different words, so passing needs word similarity, not word overlap.
 * build-glove.ts copies them to glove-100d/triples.json for the test suite.
 */
export interface Triple {
  anchor: string;
  positive: string;
  negative: string;
}

export const TRIPLES: readonly Triple[] = [
  {
    anchor: 'A man is playing a guitar.',
    positive: 'Someone plays an instrument.',
    negative: 'The stock market fell sharply today.',
  },
  {
    anchor: 'She baked fresh bread and a chocolate cake for dinner.',
    positive: 'The kitchen smelled of pastries and desserts from the oven.',
    negative: 'The court dismissed the lawsuit against the company.',
  },
  {
    anchor: 'Heavy rain and strong winds are expected tomorrow.',
    positive: 'The forecast warns of a storm with thunder and showers.',
    negative: 'The patient was prescribed antibiotics for the infection.',
  },
  {
    anchor: 'The striker scored twice in the second half to win the match.',
    positive: 'The team won the football game after two late goals.',
    negative: 'Compile the program and fix the memory leak.',
  },
  {
    anchor: 'The doctor said the patient needs surgery on his heart.',
    positive: 'A surgeon will operate on the cardiac patient at the hospital.',
    negative: 'Our flight to Paris was delayed by three hours.',
  },
  {
    anchor: 'The server crashed because the database ran out of memory.',
    positive: 'A software bug caused the computer system to fail.',
    negative: 'The puppy chased the cat around the garden.',
  },
  {
    anchor: 'The dog barked at the cat sitting on the fence.',
    positive: 'A puppy and a kitten played together in the yard.',
    negative: 'Interest rates rose after the central bank meeting.',
  },
  {
    anchor: 'We booked a hotel near the beach for our summer holiday.',
    positive: 'The family is traveling abroad on vacation by the sea.',
    negative: 'The judge sentenced the defendant to five years in prison.',
  },
  {
    anchor: 'Shares of the bank dropped after weak quarterly earnings.',
    positive: 'Investors sold stocks when the company reported lower profits.',
    negative: 'The orchestra performed a symphony by Beethoven.',
  },
  {
    anchor: 'The orchestra played a beautiful symphony last night.',
    positive: 'Musicians performed classical music at the concert hall.',
    negative: 'The senator proposed a new tax on imported cars.',
  },
  {
    anchor: 'The jury found the defendant guilty of fraud.',
    positive: 'A court convicted the man after a long criminal trial.',
    negative: 'Add salt and pepper to the soup before serving.',
  },
  {
    anchor: 'The president signed a new law on immigration.',
    positive: 'The government approved legislation about foreign workers.',
    negative: 'The cat fell asleep on the warm sofa.',
  },
  {
    anchor: 'Students are studying for their final exams at the university.',
    positive: 'College pupils prepare for tests at the end of the semester.',
    negative: 'The hurricane destroyed hundreds of homes along the coast.',
  },
  {
    anchor: 'Astronomers discovered a new planet orbiting a distant star.',
    positive: 'Scientists found another world circling a faraway sun.',
    negative: 'He ordered a pizza with cheese and mushrooms.',
  },
  {
    anchor: 'The farmer harvested wheat and corn in the fields.',
    positive: 'Crops were gathered from the farm before the autumn rains.',
    negative: 'The company released a new smartphone with a faster processor.',
  },
  {
    anchor: 'The car broke down on the highway and needed a new engine.',
    positive: 'His vehicle stopped working on the road because of a motor failure.',
    negative: 'The choir sang hymns at the church on Sunday.',
  },
  {
    anchor: 'The actress won an award for her role in the film.',
    positive: 'The movie star received a prize for her performance.',
    negative: 'The bridge was closed after the earthquake damaged it.',
  },
  {
    anchor: 'Soldiers attacked the enemy positions near the border.',
    positive: 'Troops launched an assault during the war.',
    negative: 'She planted roses and tulips in her garden.',
  },
  {
    anchor: 'Drink plenty of water and get rest if you have the flu.',
    positive: 'Fluids and sleep help you recover from a fever and cold.',
    negative: 'The museum displays paintings by famous artists.',
  },
  {
    anchor: 'The painter exhibited her portraits at the gallery.',
    positive: 'An artist showed her paintings in a museum exhibition.',
    negative: 'The train to the airport leaves every ten minutes.',
  },
];

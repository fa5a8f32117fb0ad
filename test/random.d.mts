/** mulberry32: small, fast, seeded, uniform in [0, 1). Same seed, same sequence, on every machine. */
export declare function mulberry32(seed: number): () => number;

//go:build race

package interop

// bulkBlocks is how many blocks TestInteropHypercoreBulk replicates each
// way: fewer under the race detector, which slows the Go side about tenfold
// (100k blocks would take minutes); run without -race for the 100k proof.
const bulkBlocks = 25_000

// manyPeersBlocks is the core size of TestInteropHypercoreManyPeers.
const manyPeersBlocks = 6_000

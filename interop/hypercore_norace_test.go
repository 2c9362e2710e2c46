//go:build !race

package interop

// bulkBlocks is how many blocks TestInteropHypercoreBulk replicates each
// way (see hypercore_race_test.go for the -race figure).
const bulkBlocks = 100_000

// manyPeersBlocks is the core size of TestInteropHypercoreManyPeers.
const manyPeersBlocks = 20_000

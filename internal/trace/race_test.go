//go:build race

package trace

// raceEnabled is set under the race detector, which slows the randomized
// tests tenfold: they run fewer rounds.
const raceEnabled = true

// Package crashtest holds the crash-safety test of the portal binary: it
// builds the real binary, drives concurrent writes at it over loopback
// HTTP, kills it with SIGKILL at random moments, restarts it and checks
// that every acknowledged write survived and every multi-key write is whole.
// The package has no code of its own; see crash_test.go.
package crashtest

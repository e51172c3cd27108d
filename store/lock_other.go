//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package store

import (
	"os"
	"time"
)

// lockFile is a no-op where flock is missing: bbolt locks the file in its
// own way there, and the store's reads before bbolt opens it go unlocked.
func lockFile(*os.File, bool, time.Duration) error { return nil }

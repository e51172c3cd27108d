package store

import "github.com/salesos/portal/store/kv/boltkv"

// The file: bbolt's own check of pages and freelist, after verifyFile
// (verify.go) has walked the structure.

// file runs bbolt's page-level check. It runs in a goroutine of bbolt's,
// where a panic could not be recovered: Check runs it only on a file whose
// structure verifyFile has walked, so every page it reads is in the file.
// bbolt-only: on another engine there are no pages and it checks nothing.
func (c *checker) file() {
	btx := boltkv.Tx(c.tx)
	if btx == nil {
		return
	}
	n := 0
	for err := range btx.Check() {
		if n < maxFileBreaches {
			c.add(BreachFile, "", "(file)", "", "%v", err)
		}
		n++
	}
	if n > maxFileBreaches {
		c.add(BreachFile, "", "(file)", "", "%d more page errors not listed", n-maxFileBreaches)
	}
}

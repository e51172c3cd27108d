// Package etcdkv keeps the kv seam's bucket tree in an etcd cluster (v3
// API), so that several portal processes can share one store.
//
// Every transaction reads one snapshot: the etcd revision of its first read,
// to which all its later reads are pinned. Update buffers its writes (its own
// reads and cursors see them) and commits them in one etcd Txn that holds
// only if nothing it read has changed since that revision: each key read
// keeps its ModRevision, each bucket scanned keeps its revision key, which
// every write into that bucket puts. When another transaction got there
// first, fn runs again with fresh reads, a bounded number of times, and then
// Update fails with kv.ErrConflict. The key layout, the limits and the reasons
// are in docs/storage-seam.md.
//
// The adapter builds only with the build tag etcd (go build -tags etcd,
// go test -tags etcd ./store/kv/...): the gRPC stack the etcd client brings
// along needs golang.org/x/net v0.60.0 or later for published HTTP/2 fixes,
// and that version asks for go 1.26, while this module stays at go 1.25.
// Without the tag the portal binary and its vulnerability scan leave the
// etcd client out entirely.
package etcdkv

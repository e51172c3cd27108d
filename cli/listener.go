package cli

import (
	"net"
	"net/netip"
	"sync"
)

// limitListener caps the connections a server holds open, so that idle
// keep-alive connections cannot use up the process's file descriptors: at
// most max at once in all (Accept waits for one to close, as
// golang.org/x/net/netutil.LimitListener does), and at most perClient from
// one client address, whose excess is closed as soon as it is accepted. A
// client address for which exempt reports true (a trusted proxy, which
// carries many clients' connections) has no per-client cap.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	perClient int
	exempt    func(netip.Addr) bool
	refused   func(netip.Addr) // called for each connection closed over perClient

	mu     sync.Mutex
	byAddr map[netip.Addr]int

	done      chan struct{}
	closeOnce sync.Once
}

// newLimitListener wraps ln; perClient 0 means no per-client cap.
func newLimitListener(ln net.Listener, max, perClient int, exempt func(netip.Addr) bool, refused func(netip.Addr)) *limitListener {
	if exempt == nil {
		exempt = func(netip.Addr) bool { return false }
	}
	if refused == nil {
		refused = func(netip.Addr) {}
	}
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), perClient: perClient,
		exempt: exempt, refused: refused, byAddr: map[netip.Addr]int{}, done: make(chan struct{})}
}

// Accept waits for a free slot, then returns the next connection whose
// client is under its cap.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		addr := clientAddr(c.RemoteAddr())
		if !l.take(addr) {
			_ = c.Close()
			<-l.slots
			l.refused(addr)
			continue
		}
		return &limitConn{Conn: c, release: func() { l.give(addr); <-l.slots }}, nil
	}
}

// Close closes the listener and ends an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *limitListener) take(addr netip.Addr) bool {
	if l.perClient <= 0 || !addr.IsValid() || l.exempt(addr) {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byAddr[addr] >= l.perClient {
		return false
	}
	l.byAddr[addr]++
	return true
}

func (l *limitListener) give(addr netip.Addr) {
	if l.perClient <= 0 || !addr.IsValid() || l.exempt(addr) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr) // the map holds only clients with connections open
	}
}

// clientAddr is the IP address of a connection's peer, IPv4 in IPv6 form
// unmapped so that one client counts once; the zero Addr when there is none.
func clientAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

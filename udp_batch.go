package asio

import "net/netip"

// Message is one datagram of a batched send or receive (AsyncSendBatch,
// AsyncReceiveBatch): its buffers and address are the caller's input, N and
// Truncated (and Addr, on a receive) the operation's output, written before
// the handler runs.
type Message struct {
	// Buffers holds the datagram to send, or receives it: one datagram per
	// Message however many buffers it has. An empty sequence is a
	// zero-length datagram.
	Buffers Buffers
	// Addr is the destination of a send (the zero AddrPort: the connected
	// peer), and the sender of a received datagram, IPv4-mapped addresses
	// unmapped.
	Addr netip.AddrPort
	// N is the number of bytes sent, or received into Buffers.
	N int
	// Truncated reports a received datagram larger than Buffers: the rest of
	// it was discarded.
	Truncated bool
}

// AsyncSendBatch sends the datagrams of msgs, each to its Addr, with as few
// system calls as the backend allows (one sendmmsg on Linux; the portable
// backend sends them one at a time, with the same results), and passes h
// the number of messages sent. Like AsyncSend it may do only part of the
// work: it completes once at least one message is sent, with n < len(msgs)
// when the socket's send buffer filled up or message n could not be sent;
// send msgs[n:] again to go on (and to learn that message's error). An error
// comes only with n == 0. For each message sent, N is set to its size.
//
// msgs and the buffers are the caller's until h runs. At most 1024 messages
// are taken per call. It supports terminal, partial and total cancellation,
// and is safe from any goroutine.
func (s *UDPSocket) AsyncSendBatch(msgs []Message, h func(n int, err error), opts ...OpOption) {
	s.asyncBatch(opSendBatch, msgs, h, opts)
}

// AsyncReceiveBatch receives up to len(msgs) datagrams with as few system
// calls as the backend allows (one recvmmsg on Linux; the portable backend
// receives one datagram per call) and passes h the
// number received: at least one, unless an error occurs. For each message
// received, N, Addr and Truncated are set.
//
// msgs and the buffers are the caller's until h runs. At most 1024 messages
// are taken per call. It supports terminal, partial and total cancellation,
// and is safe from any goroutine.
func (s *UDPSocket) AsyncReceiveBatch(msgs []Message, h func(n int, err error), opts ...OpOption) {
	s.asyncBatch(opRecvBatch, msgs, h, opts)
}

func (s *UDPSocket) asyncBatch(kind opKind, msgs []Message, h func(int, error), opts []OpOption) {
	o := s.newOp(kind, h != nil, opts)
	o.setN(h)
	o.ext().batch = msgs
	s.start(o, nil, 0)
}

// SendBatch is AsyncSendBatch's blocking form: it waits until it can send
// at least one message. It needs no Run.
func (s *UDPSocket) SendBatch(msgs []Message) (int, error) {
	o := blockingOp(opSendBatch, 0, nil)
	o.x.batch = msgs
	err := s.d.be().do(&s.d, &o)
	return int(o.n), err
}

// ReceiveBatch is AsyncReceiveBatch's blocking form: it waits until at
// least one datagram has arrived. It needs no Run.
func (s *UDPSocket) ReceiveBatch(msgs []Message) (int, error) {
	o := blockingOp(opRecvBatch, 0, nil)
	o.x.batch = msgs
	err := s.d.be().do(&s.d, &o)
	return int(o.n), err
}

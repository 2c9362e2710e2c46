// Package udx implements UDX: reliable, ordered, congestion-controlled
// streams and unreliable datagrams over one UDP socket, wire-compatible
// with libudx and its JavaScript binding udx-native (1.21.x).
//
// # Use
//
// A UDX instance (New) holds the table of stream ids; its sockets
// (UDX.Listen) each own one UDP port. A socket carries datagrams
// (Socket.WriteTo, Socket.ReadFrom, Socket.SendTTL, as dht-rpc needs) and
// any number of streams, demultiplexed by the 32-bit stream id in the UDX
// header. A datagram that is not a packet of a known stream, UDX-shaped
// or not, goes to ReadFrom, as libudx hands it to on_recv.
//
// A Stream (UDX.NewStream, Stream.Connect, or Connect for both) is a
// net.Conn: Read, Write (blocking with backpressure), deadlines,
// CloseWrite (half-close: the peer reads EOF), Close (end, wait for the
// peer's acknowledgements, then close) and Destroy (a destroy packet; the
// peer's reads fail with ErrReset). SendMessage/ReadMessage carry
// unordered messages on the stream; ChangeRemote moves a live stream to
// another socket, remote id and address; RelayTo forwards one stream's
// packets into another (blind relaying); StreamConfig.Firewall decides
// about packets for a stream that is not yet connected on that socket,
// and may connect it to the sender.
//
// # Protocol
//
// The 20-byte header (magic 0xff, version 1, type flags, data offset,
// stream id, receive window, seq, ack; little-endian) and packet types
// (data, end, SACK, message, destroy, heartbeat) are libudx's. Each data
// or end packet takes one sequence number; acks are cumulative with up to
// 50 SACK ranges. Loss recovery follows libudx: RACK with tail-loss
// probes, an RTO of max(SRTT+4·RTTVAR, 1 s) with up to six timeouts per
// packet, and BBR (v1) congestion control with a delivery-rate estimator
// and pacing. Unlike libudx, the window is also capped (as BBRv2's
// inflight_hi) after a round trip that lost more than 2% of its packets:
// at loopback rates BBR's window outgrows udx-native's socket buffer. Path MTU probing pads a data packet (through the data
// offset) to 32 bytes above the current MTU, from 1200 up to 1500.
// Zero-window and keepalive probes are heartbeats.
//
// # Goroutines and locking
//
// Each socket runs at most one goroutine, its reader, started by Listen
// and ended by Close. On Linux a reader that sees no datagram for a
// moment parks: it ends, and one process-wide epoll poller starts a new
// one when the socket is readable again, so a quiet socket holds no
// goroutine stack (a thousand idle DHT nodes in one process hold a few
// readers, not a thousand). The reader reads a batch of datagrams (recvmmsg, with UDP
// GRO coalescing on Linux), and for each stream packet locks that stream
// and runs the receive path (acks, SACKs, loss detection, congestion
// control, reassembly into the read buffer) inline. Bare acks in a batch
// that a later bare ack of the same stream supersedes are skipped
// (udx-native acks every data packet). Packets the batch
// triggers, new data released by acks and one ack per stream per batch,
// are queued and leave in one sendmmsg (with UDP GSO for runs of
// same-size packets) when the batch is done.
//
// Everything else runs on the caller's goroutine: Write packetises into
// the stream's queue and sends what the congestion window, pacing and the
// peer's window allow; Read copies from the reassembled buffer and, when
// it reopens a nearly closed window, tells the sender. Timers (RTO, RACK
// reordering, tail-loss probe, zero-window probe, keepalive, pacing) are
// time.AfterFunc timers owned by the stream and stopped when it closes.
// One mutex per stream guards all of its state; no lock is held while
// calling user code (the firewall hook) or while locking another stream
// (relays). Sends are synchronous writes to the socket, so no send queue
// or writer goroutine exists.
package udx

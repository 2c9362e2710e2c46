// Package udx implements UDX: reliable, ordered, congestion-controlled
// streams and unreliable datagrams over one UDP socket, wire-compatible
// with libudx and its JavaScript binding udx-native.
//
// A Socket owns one UDP port. It carries datagrams (ReadFrom/WriteTo, as
// dht-rpc needs) and any number of Streams, demultiplexed by the 32-bit
// stream id in the UDX header. A Stream is a net.Conn with half-close
// (CloseWrite), unordered messages (SendMessage), ChangeRemote, Relay and
// BBR congestion control with pacing, as libudx.
package udx

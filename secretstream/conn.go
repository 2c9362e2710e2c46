package secretstream

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenp2p/warren/noise"
)

// Wire limits.
const (
	// MaxFrameSize is the largest frame body the 3-byte length can describe,
	// the limit of the JS module too.
	MaxFrameSize = 1<<24 - 1
	// MaxMessageSize is the largest plaintext one frame can carry.
	MaxMessageSize = MaxFrameSize - sodiumABytes
	// headerFrameSize is the body of the header frame: stream id and the
	// secretstream header.
	headerFrameSize = 32 + sodiumHeaderBytes
	// maxHandshakeMessage bounds a Noise message; secret-stream's carry no
	// payload and are under 100 bytes.
	maxHandshakeMessage = 4096
)

// DefaultHandshakeTimeout bounds the handshake when Config.HandshakeTimeout
// is zero. The JS module has no handshake timeout of its own; HyperDHT gives
// up on a handshake after 10 seconds, and so does this default.
const DefaultHandshakeTimeout = 10 * time.Second

// writeChunk is the largest plaintext that Write puts in one frame. It is a
// multiple of 8, so bulk frames take the single-pass AEAD path; 256 KiB
// frames cost measurably less CPU per byte than 64 KiB ones over TCP.
const writeChunk = 256 << 10

// Errors. A connection that fails with one of these is closed; match them
// with errors.Is.
var (
	// ErrHandshake reports a Noise handshake that failed: a malformed or
	// unauthentic handshake message, or a peer that ended it early.
	ErrHandshake = errors.New("secretstream: noise handshake failed")
	// ErrRemoteKey reports a peer whose static key is not Config.RemotePublicKey.
	ErrRemoteKey = errors.New("secretstream: remote public key mismatch")
	// ErrInvalidHeader reports a first frame that is not a header frame.
	ErrInvalidHeader = errors.New("secretstream: invalid header message")
	// ErrStreamID reports a header frame whose stream id does not match the
	// handshake.
	ErrStreamID = errors.New("secretstream: stream id mismatch")
	// ErrAuth reports a frame that does not authenticate: forged, corrupted,
	// replayed, reordered or dropped frames all end here.
	ErrAuth = errAuth
	// ErrShortFrame reports a frame too short to hold a message.
	ErrShortFrame = errors.New("secretstream: frame shorter than the message overhead")
	// ErrFrameTooLarge reports a frame over Config.MaxFrameSize.
	ErrFrameTooLarge = errors.New("secretstream: frame too large")
	// ErrMessageTooLarge is returned by WriteMessage for a message over
	// MaxMessageSize. The connection stays usable.
	ErrMessageTooLarge = errors.New("secretstream: message too large for one frame")
	// ErrTimeout reports that nothing arrived for Config.Timeout.
	ErrTimeout = errors.New("secretstream: stream timed out")
	// ErrShutdown is returned by writes after CloseWrite.
	ErrShutdown = errors.New("secretstream: write after CloseWrite")
)

// Config configures a connection. The zero value is ready to use.
type Config struct {
	// PrivateKey is the static Ed25519 key for the Noise handshake; nil
	// means a fresh random key pair.
	PrivateKey ed25519.PrivateKey
	// RemotePublicKey, if set, makes the handshake fail with ErrRemoteKey
	// unless the peer proves this key. (The JS module does not check this
	// for XX; its callers do.)
	RemotePublicKey ed25519.PublicKey
	// HandshakeTimeout bounds the handshake (including the peer's header
	// frame in an explicit Handshake call). Zero means
	// DefaultHandshakeTimeout, negative means no limit beyond the context.
	HandshakeTimeout time.Duration
	// KeepAlive, if positive, sends an empty frame whenever nothing was
	// written for that long, as setKeepAlive does in JS. Zero is off, the
	// JS default.
	KeepAlive time.Duration
	// Timeout, if positive, closes the connection with ErrTimeout when
	// nothing is received for that long, as setTimeout does in JS.
	Timeout time.Duration
	// MaxFrameSize, if positive, is the largest frame body accepted from
	// the peer; bigger frames close the connection with ErrFrameTooLarge.
	// Zero means MaxFrameSize, the wire limit.
	MaxFrameSize int
	// Logger receives debug logs; nil is silent.
	Logger *slog.Logger
}

// Handshake holds the result of a completed Noise handshake, from which
// FromHandshake starts the encrypted stream.
type Handshake struct {
	Initiator       bool
	Tx, Rx          [32]byte // keys for sending and receiving
	Hash            [64]byte // the Noise handshake hash
	PublicKey       ed25519.PublicKey
	RemotePublicKey ed25519.PublicKey
}

// Conn is a secret-stream connection. It is a net.Conn; Read and Write may
// be called concurrently with each other and with Close.
type Conn struct {
	raw       net.Conn
	cfg       Config
	log       *slog.Logger
	initiator bool
	maxFrame  int
	epoch     time.Time

	// handshake: guarded by hsMu until hsDone is set, read-only after
	hsMu         sync.Mutex
	hsDone       atomic.Bool
	hsErr        error
	key          ed25519.PrivateKey // nil for FromHandshake
	publicKey    ed25519.PublicKey
	remoteKey    ed25519.PublicKey
	hash         [64]byte
	remoteID     [32]byte
	rxKey        [32]byte
	pendingWrite []byte // handshake bytes to send before the first frame
	dgOnce       sync.Once
	dg           *datagramState // unordered messages, set on first use

	readMu    sync.Mutex
	rb        []byte // rb[:headroom+1] is scratch; data is rb[r:w]
	r, w      int
	pull      sodiumState
	gotHeader bool
	pending   []byte // plaintext not yet returned by Read
	bulk      bool   // reads fill the buffer: grow it to bulkReadBuffer
	rerr      error  // sticky read error

	writeMu sync.Mutex
	wb      []byte
	push    sodiumState
	werr    error // sticky write error
	wclosed bool

	failMu sync.Mutex
	failed error // fatal error; the raw conn is closed
	closed bool

	dlMu              sync.Mutex
	readDL, writeDL   time.Time
	lastRecv          atomic.Int64 // since epoch
	lastSend          atomic.Int64
	timerMu           sync.Mutex
	idleTimer, kaTime *time.Timer
}

// Client returns a connection that handshakes as the Noise initiator over
// conn on its first Read or Write or on Handshake. cfg may be nil.
func Client(conn net.Conn, cfg *Config) *Conn { return newConn(conn, cfg, true) }

// Server returns a connection that handshakes as the Noise responder.
func Server(conn net.Conn, cfg *Config) *Conn { return newConn(conn, cfg, false) }

func newConn(raw net.Conn, cfg *Config, initiator bool) *Conn {
	c := &Conn{raw: raw, initiator: initiator, epoch: time.Now()}
	if cfg != nil {
		c.cfg = *cfg
	}
	c.log = c.cfg.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.maxFrame = MaxFrameSize
	if c.cfg.MaxFrameSize > 0 && c.cfg.MaxFrameSize < MaxFrameSize {
		c.maxFrame = c.cfg.MaxFrameSize
	}
	if c.maxFrame < headerFrameSize {
		c.maxFrame = headerFrameSize
	}
	c.rb = make([]byte, headroom+1+initialReadBuffer)
	c.r, c.w = headroom+1, headroom+1
	c.armIdle()
	return c
}

// FromHandshake starts the encrypted stream over conn with the keys of a
// handshake done elsewhere, as the JS module does when given opts.handshake.
// It sends the header frame before returning; the peer's header is checked
// by the first read (or by Handshake).
func FromHandshake(conn net.Conn, h Handshake, cfg *Config) (*Conn, error) {
	c := newConn(conn, cfg, h.Initiator)
	c.hsMu.Lock()
	defer c.hsMu.Unlock()
	c.publicKey = append(ed25519.PublicKey(nil), h.PublicKey...)
	c.remoteKey = append(ed25519.PublicKey(nil), h.RemotePublicKey...)
	c.setup(h.Tx, h.Rx, h.Hash)
	if err := c.flushSetup(); err != nil {
		c.hsErr = err
		c.fail(err)
		return nil, err
	}
	c.hsDone.Store(true)
	c.armKeepAlive()
	return c, nil
}

// setup derives the stream state from the handshake keys and queues the
// header frame.
func (c *Conn) setup(tx, rx [32]byte, hash [64]byte) {
	c.hash = hash
	c.rxKey = rx
	c.remoteID = StreamID(hash[:], !c.initiator)
	var header [sodiumHeaderBytes]byte
	if _, err := rand.Read(header[:]); err != nil {
		panic("secretstream: crypto/rand: " + err.Error())
	}
	c.push.init(&tx, &header)
	id := StreamID(hash[:], c.initiator)
	frame := make([]byte, 3, 3+headerFrameSize)
	putUint24(frame, headerFrameSize)
	frame = append(frame, id[:]...)
	frame = append(frame, header[:]...)
	c.pendingWrite = append(c.pendingWrite, frame...)
}

// flushSetup writes the queued handshake bytes and header frame.
func (c *Conn) flushSetup() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err := c.raw.Write(c.pendingWrite)
	c.pendingWrite = nil
	if err != nil {
		c.werr = err
		return c.fatal(err)
	}
	c.lastSend.Store(int64(time.Since(c.epoch)))
	return nil
}

// Handshake runs the handshake if it has not run yet and waits for the
// peer's header frame, so that on success both directions are set up and
// the peer is verified. Read and Write call it implicitly (Write without
// waiting for the peer's header). A failed handshake closes the connection,
// whatever ended it (a bad message, ctx, Config.HandshakeTimeout or a
// deadline), and every later Handshake and Read returns the same error.
func (c *Conn) Handshake(ctx context.Context) error {
	if err := c.start(ctx); err != nil {
		return err
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.gotHeader {
		return nil
	}
	if c.rerr != nil {
		return c.rerr
	}
	stop, err := c.guard(ctx, false)
	if err == nil {
		err = c.readHeader()
		if cerr := stop(); cerr != nil && err != nil {
			err = cerr
		}
	}
	if err != nil {
		// The header wait is part of the handshake: giving up on it ends
		// the connection. Bytes of a header that arrives later are never
		// read, so no read can run without a receive cipher.
		err = c.fatal(err)
		c.rerr = err
		c.log.Debug("secretstream: no header from the peer", "err", err)
	}
	return err
}

// start runs the Noise handshake and sends the header frame, once.
func (c *Conn) start(ctx context.Context) error {
	if c.hsDone.Load() {
		return nil
	}
	c.hsMu.Lock()
	defer c.hsMu.Unlock()
	if c.hsDone.Load() {
		return nil
	}
	if c.hsErr != nil {
		return c.hsErr
	}
	if err := c.fatalErr(); err != nil {
		return err
	}
	stop, err := c.guard(ctx, true)
	if err == nil {
		err = c.noiseHandshake()
		if err == nil {
			err = c.flushSetup()
		}
		if cerr := stop(); cerr != nil && err != nil {
			err = cerr
		}
	}
	if err != nil {
		c.fail(err)
		// If the connection was already failed (the idle timeout fired
		// during the handshake), report that cause, not the closed socket.
		if f := c.fatalErr(); f != nil {
			err = f
		}
		c.hsErr = err
		c.log.Debug("secretstream: handshake failed", "err", err)
		return err
	}
	c.hsDone.Store(true)
	c.armKeepAlive()
	return nil
}

// guard applies the handshake timeout and ctx to the raw connection's
// deadlines; stop restores the user's deadlines and, if ctx ended, returns
// its error.
func (c *Conn) guard(ctx context.Context, both bool) (stop func() error, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var dl time.Time
	if c.cfg.HandshakeTimeout >= 0 {
		t := c.cfg.HandshakeTimeout
		if t == 0 {
			t = DefaultHandshakeTimeout
		}
		dl = time.Now().Add(t)
	}
	if d, ok := ctx.Deadline(); ok && (dl.IsZero() || d.Before(dl)) {
		dl = d
	}
	c.dlMu.Lock()
	rdl, wdl := c.readDL, c.writeDL
	c.dlMu.Unlock()
	earlier := func(user time.Time) time.Time {
		if dl.IsZero() || (!user.IsZero() && user.Before(dl)) {
			return user
		}
		return dl
	}
	_ = c.raw.SetReadDeadline(earlier(rdl))
	if both {
		_ = c.raw.SetWriteDeadline(earlier(wdl))
	}
	var fired atomic.Bool
	done := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		defer close(done)
		fired.Store(true)
		// Waiting for the header only reads: leave the write side alone,
		// where a keepalive or the caller may be writing.
		if both {
			_ = c.raw.SetDeadline(time.Unix(1, 0))
		} else {
			_ = c.raw.SetReadDeadline(time.Unix(1, 0))
		}
	})
	return func() error {
		if !cancel() {
			<-done // it ran or is running: let it finish before restoring
		}
		c.dlMu.Lock()
		_ = c.raw.SetReadDeadline(c.readDL)
		if both {
			_ = c.raw.SetWriteDeadline(c.writeDL)
		}
		c.dlMu.Unlock()
		if fired.Load() {
			return ctx.Err()
		}
		return nil
	}, nil
}

// noiseHandshake runs the XX handshake; messages go out framed with a
// 3-byte length, the last one together with the header frame.
func (c *Conn) noiseHandshake() error {
	key := c.cfg.PrivateKey
	if key == nil {
		var err error
		if _, key, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return err
		}
	}
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("secretstream: private key of %d bytes", len(key))
	}
	c.key = key
	c.publicKey = append(ed25519.PublicKey(nil), key.Public().(ed25519.PublicKey)...)
	hs, err := noise.New(noise.Config{Pattern: noise.XX, Initiator: c.initiator, StaticKey: key})
	if err != nil {
		return err
	}
	send := func() error {
		msg, err := hs.WriteMessage(nil)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrHandshake, err)
		}
		frame := make([]byte, 3, 3+len(msg))
		putUint24(frame, len(msg))
		c.pendingWrite = append(frame, msg...)
		if hs.Complete() {
			return nil // sent with the header frame
		}
		return c.flushSetup()
	}
	if c.initiator {
		if err := send(); err != nil {
			return err
		}
	}
	for !hs.Complete() {
		msg, err := c.readRaw(maxHandshakeMessage)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, ErrFrameTooLarge) {
				return fmt.Errorf("%w: %w", ErrHandshake, err)
			}
			return err
		}
		if _, err := hs.ReadMessage(msg); err != nil {
			return fmt.Errorf("%w: %w", ErrHandshake, err)
		}
		if hs.Complete() {
			break
		}
		if err := send(); err != nil {
			return err
		}
	}
	res, err := hs.Result()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	c.remoteKey = append(ed25519.PublicKey(nil), res.RemoteStatic...)
	if c.cfg.RemotePublicKey != nil && subtle.ConstantTimeCompare(c.cfg.RemotePublicKey, c.remoteKey) != 1 {
		return ErrRemoteKey
	}
	c.setup(res.Tx, res.Rx, res.Hash)
	return nil
}

// A connection reads into a small buffer (initialReadBuffer bytes) until
// a read of at least bulkReadHint bytes fills it to its end, a sign that
// the peer sends faster than we read; the buffer then grows once to
// bulkReadBuffer bytes, so a bulk transfer costs one read system call per
// bulkReadBuffer bytes instead of one per few KiB, while the many quiet
// connections of a node keep small buffers.
const (
	initialReadBuffer = 4096
	bulkReadHint      = 2048
	bulkReadBuffer    = 64 << 10
)

// readRaw reads one frame body of at most max bytes, unencrypted. The slice
// is valid until the next read.
func (c *Conn) readRaw(max int) ([]byte, error) {
	if err := c.fill(3); err != nil {
		return nil, err
	}
	n := getUint24(c.rb[c.r:])
	if n > max {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	if err := c.fill(3 + n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	body := c.rb[c.r+3 : c.r+3+n]
	c.r += 3 + n
	return body, nil
}

// readHeader reads and checks the peer's header frame and sets up the
// receiving direction. readMu is held.
func (c *Conn) readHeader() error {
	msg, err := c.readRaw(headerFrameSize)
	if err != nil {
		if errors.Is(err, ErrFrameTooLarge) {
			err = ErrInvalidHeader
			return c.fatal(err)
		}
		return c.readError(err)
	}
	if len(msg) != headerFrameSize {
		return c.fatal(ErrInvalidHeader)
	}
	if subtle.ConstantTimeCompare(msg[:32], c.remoteID[:]) != 1 {
		return c.fatal(ErrStreamID)
	}
	var header [sodiumHeaderBytes]byte
	copy(header[:], msg[32:])
	c.pull.init(&c.rxKey, &header)
	c.gotHeader = true
	return nil
}

// fill makes sure at least n bytes are buffered at rb[r:], moving buffered
// data to the front or growing the buffer when needed. readMu is held.
func (c *Conn) fill(n int) error {
	if c.w-c.r >= n {
		return nil
	}
	const start = headroom + 1
	for c.w-c.r < n {
		if c.w == len(c.rb) {
			if c.bulk && len(c.rb)-start < bulkReadBuffer {
				// The stream keeps the buffer full: read it in larger
				// pieces from now on (one allocation, then none).
				nb := make([]byte, start+bulkReadBuffer)
				c.w = start + copy(nb[start:], c.rb[c.r:c.w])
				c.r = start
				c.rb = nb
				continue
			}
			if c.r > start {
				// Move the partial data to the front.
				c.w = start + copy(c.rb[start:], c.rb[c.r:c.w])
				c.r = start
				continue
			}
			// Grow with the data that actually arrives, not with what a
			// length prefix claims, so a peer cannot make us allocate
			// 16 MiB with three bytes.
			size := 2 * (len(c.rb) - start)
			if size < 64<<10 {
				size = 64 << 10
			}
			if size > n && len(c.rb)-start >= 256<<10 {
				size = n
			}
			nb := make([]byte, start+size)
			c.w = start + copy(nb[start:], c.rb[c.r:c.w])
			c.r = start
			c.rb = nb
		}
		m, err := c.raw.Read(c.rb[c.w:])
		if m > 0 {
			// A read that filled a good part of the buffer to its end
			// suggests more was waiting.
			if m >= bulkReadHint && c.w+m == len(c.rb) {
				c.bulk = true
			}
			c.w += m
			c.lastRecv.Store(int64(time.Since(c.epoch)))
		}
		if err != nil {
			if c.w-c.r >= n {
				return nil
			}
			if err == io.EOF && c.w-c.r > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readFrame returns the plaintext of the next frame, valid until the next
// call. Empty frames (keepalives) are skipped. readMu is held.
func (c *Conn) readFrame() ([]byte, error) {
	if c.rerr != nil {
		return nil, c.rerr
	}
	if !c.gotHeader {
		if err := c.readHeader(); err != nil {
			if !isTimeout(err) {
				c.rerr = err
			}
			return nil, err
		}
	}
	if c.r == c.w && len(c.rb) > 4<<20 {
		c.rb = make([]byte, headroom+1+64<<10) // let go of a huge frame's buffer
		c.r, c.w = headroom+1, headroom+1
	}
	for {
		if err := c.fill(3); err != nil {
			return nil, c.stickyRead(err)
		}
		n := getUint24(c.rb[c.r:])
		if n > c.maxFrame {
			return nil, c.stickyRead(c.fatal(fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)))
		}
		if n < sodiumABytes {
			return nil, c.stickyRead(c.fatal(ErrShortFrame))
		}
		if err := c.fill(3 + n); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, c.stickyRead(err)
		}
		body := c.r + 3
		frame := c.rb[body-headroom : body+n]
		_, msg, err := c.pull.open(frame)
		if err != nil {
			return nil, c.stickyRead(c.fatal(err))
		}
		c.r = body + n
		if len(msg) > 0 {
			return msg, nil
		}
	}
}

// stickyRead records a read error that ends reading (anything but a
// deadline) and prefers the connection's fatal error when there is one.
func (c *Conn) stickyRead(err error) error {
	err = c.readError(err)
	if !isTimeout(err) {
		c.rerr = err
	}
	return err
}

func (c *Conn) readError(err error) error {
	if f := c.fatalErr(); f != nil {
		return f
	}
	return err
}

// Read reads decrypted data. It returns io.EOF once the peer has ended its
// side (CloseWrite here, end() in JS) and every frame before was read.
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.start(context.Background()); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if len(c.pending) == 0 {
		msg, err := c.readFrame()
		if err != nil {
			return 0, err
		}
		c.pending = msg
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// ReadMessage returns the plaintext of the next frame: one WriteMessage (or
// one JS write) of the peer. The slice is valid only until the next
// ReadMessage or Read. Empty frames, which JS sends as keepalives, are
// skipped. Do not mix ReadMessage with Read: data that Read left over is
// returned as if it were a message.
func (c *Conn) ReadMessage() ([]byte, error) {
	if err := c.start(context.Background()); err != nil {
		return nil, err
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if len(c.pending) > 0 {
		msg := c.pending
		c.pending = nil
		return msg, nil
	}
	return c.readFrame()
}

// Write encrypts p and sends it, in frames of up to 256 KiB.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.start(context.Background()); err != nil {
		return 0, err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	n := 0
	for {
		chunk := p[n:]
		if len(chunk) > writeChunk {
			chunk = chunk[:writeChunk]
		}
		if err := c.writeFrame(chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		if n == len(p) {
			return n, nil
		}
	}
}

// WriteMessage sends p as one frame, which the peer receives as one
// message (one ReadMessage, one 'data' event in JS). An empty p sends an
// empty frame, which is what a keepalive is.
func (c *Conn) WriteMessage(p []byte) error {
	if len(p) > MaxMessageSize {
		return ErrMessageTooLarge
	}
	if err := c.start(context.Background()); err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.writeFrame(p)
}

// WriteMessages sends every message of msgs as its own frame, exactly as
// that many WriteMessage calls in a row would put them on the wire, but it
// seals consecutive frames into one buffer and hands the buffer to the
// underlying connection in one Write (one per writeChunk bytes or so), which
// saves a system call per message when a writer has several queued. If a
// message is larger than MaxMessageSize nothing is sent and
// ErrMessageTooLarge is returned. After an error some leading messages may
// have been sent, and the stream cannot continue.
func (c *Conn) WriteMessages(msgs [][]byte) error {
	for _, p := range msgs {
		if len(p) > MaxMessageSize {
			return ErrMessageTooLarge
		}
	}
	if err := c.start(context.Background()); err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	for len(msgs) > 0 {
		if c.wclosed {
			return ErrShutdown
		}
		if c.werr != nil {
			return c.werr
		}
		// Take messages while they fit in one chunk; always at least one.
		n, size := 1, wireBytes(len(msgs[0]))
		for n < len(msgs) && size+wireBytes(len(msgs[n])) <= writeChunk {
			size += wireBytes(len(msgs[n]))
			n++
		}
		if err := c.writeFrames(msgs[:n], size); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// wireBytes is how many bytes a frame carrying an n-byte message takes on
// the wire: 3 length bytes, the tag, the ciphertext and the MAC.
func wireBytes(n int) int { return 3 + sodiumABytes + n }

// writeFrames seals msgs into consecutive frames in wb and writes them in
// one Write. size is the sum of their wireBytes. writeMu is held.
//
// Each frame is sealed in place as writeFrame does, which needs the 64 bytes
// before its length prefix as scratch. Those bytes are the tail of the frame
// before it, so they are saved before sealing and put back afterwards.
func (c *Conn) writeFrames(msgs [][]byte, size int) error {
	const skip = headroom - 3 // scratch bytes in front of a frame on the wire
	total := skip + size
	if len(c.wb) < total {
		n := max(2*len(c.wb), 4096)
		n = min(n, blockBytes+writeChunk+macBytes)
		c.wb = make([]byte, max(n, total))
	}
	var saved [skip]byte
	off := 0 // where the current frame's buffer starts
	for i, p := range msgs {
		frame := c.wb[off : off+blockBytes+len(p)+macBytes]
		if i > 0 {
			copy(saved[:], frame[:skip])
		}
		copy(frame[blockBytes:], p)
		c.push.seal(frame, tagMessage)
		if i > 0 {
			copy(frame[:skip], saved[:])
		}
		putUint24(frame[skip:], len(p)+sodiumABytes)
		off += wireBytes(len(p))
	}
	if _, err := c.raw.Write(c.wb[skip:total]); err != nil {
		c.werr = c.writeError(err)
		return c.werr
	}
	c.lastSend.Store(int64(time.Since(c.epoch)))
	if cap(c.wb) > 4<<20 {
		c.wb = nil
	}
	return nil
}

// writeFrame encrypts and sends one frame. writeMu is held. The frame is
// built in wb as [scratch | 3-byte length | tag | ciphertext | MAC], the
// length and tag taking the last 4 of the 64 scratch bytes.
func (c *Conn) writeFrame(p []byte) error {
	if c.wclosed {
		return ErrShutdown
	}
	if c.werr != nil {
		return c.werr
	}
	size := blockBytes + len(p) + macBytes
	if len(c.wb) < size {
		// Grow geometrically up to one full chunk, so small writers keep
		// small buffers and bulk writers stop allocating quickly.
		n := max(2*len(c.wb), 4096)
		n = min(n, blockBytes+writeChunk+macBytes)
		c.wb = make([]byte, max(n, size))
	}
	frame := c.wb[:size]
	copy(frame[blockBytes:], p)
	c.push.seal(frame, tagMessage)
	putUint24(frame[headroom-3:], len(p)+sodiumABytes)
	if _, err := c.raw.Write(frame[headroom-3:]); err != nil {
		// Part of a frame may be out: the stream cannot continue.
		c.werr = c.writeError(err)
		return c.werr
	}
	c.lastSend.Store(int64(time.Since(c.epoch)))
	if cap(c.wb) > 4<<20 {
		c.wb = nil // do not keep a buffer for a huge message
	}
	return nil
}

func (c *Conn) writeError(err error) error {
	if f := c.fatalErr(); f != nil {
		return f
	}
	return err
}

// CloseWrite ends this side of the stream, as end() does in JS: the peer
// reads io.EOF after the data sent so far, and can still send. The raw
// connection must support CloseWrite (as *net.TCPConn does).
func (c *Conn) CloseWrite() error {
	if err := c.start(context.Background()); err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.wclosed {
		return nil
	}
	cw, ok := c.raw.(interface{ CloseWrite() error })
	if !ok {
		return fmt.Errorf("secretstream: %T has no CloseWrite: %w", c.raw, errors.ErrUnsupported)
	}
	c.wclosed = true
	c.stopTimer(&c.kaTime)
	return cw.CloseWrite()
}

// Close closes the connection and the one beneath it.
func (c *Conn) Close() error {
	c.failMu.Lock()
	first := !c.closed
	c.closed = true
	failed := c.failed != nil
	c.failMu.Unlock()
	c.stopTimer(&c.idleTimer)
	c.stopTimer(&c.kaTime)
	if !first {
		return net.ErrClosed
	}
	if failed {
		return nil // closed already when it failed
	}
	return c.raw.Close()
}

// fatal closes the connection because of err (unless it is already
// closed for another reason) and returns the error it ended with: the
// earlier failure if there was one, else err. It never returns nil, even
// when Close ran first (Close records no failure): a caller that checks a
// frame and finds it bad must not go on as if it were good.
func (c *Conn) fatal(err error) error {
	c.fail(err)
	if f := c.fatalErr(); f != nil {
		return f
	}
	return err
}

func (c *Conn) fail(err error) {
	c.failMu.Lock()
	if c.failed != nil || c.closed {
		c.failMu.Unlock()
		return
	}
	c.failed = err
	c.failMu.Unlock()
	c.log.Debug("secretstream: closing", "err", err)
	c.stopTimer(&c.idleTimer)
	c.stopTimer(&c.kaTime)
	_ = c.raw.Close()
}

func (c *Conn) fatalErr() error {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	return c.failed
}

// RemotePublicKey returns the peer's static public key, nil before the
// handshake.
func (c *Conn) RemotePublicKey() ed25519.PublicKey {
	if !c.hsDone.Load() {
		return nil
	}
	return c.remoteKey
}

// PublicKey returns this side's static public key, nil before the
// handshake.
func (c *Conn) PublicKey() ed25519.PublicKey {
	if !c.hsDone.Load() {
		return nil
	}
	return c.publicKey
}

// HandshakeHash returns the 64-byte Noise handshake hash, nil before the
// handshake.
func (c *Conn) HandshakeHash() []byte {
	if !c.hsDone.Load() {
		return nil
	}
	return c.hash[:]
}

// IsInitiator reports whether this side initiated the handshake.
func (c *Conn) IsInitiator() bool { return c.initiator }

// NetConn returns the connection beneath.
func (c *Conn) NetConn() net.Conn { return c.raw }

// LocalAddr returns the local address of the connection beneath.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the remote address of the connection beneath.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.readDL, c.writeDL = t, t
	return c.raw.SetDeadline(t)
}

// SetReadDeadline sets the read deadline. A read that times out leaves the
// connection usable.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.readDL = t
	return c.raw.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline. A write that times out may
// have sent part of a frame, so every later write fails too, as in
// crypto/tls.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.writeDL = t
	return c.raw.SetWriteDeadline(t)
}

// armIdle starts the idle timer of Config.Timeout.
func (c *Conn) armIdle() {
	if c.cfg.Timeout <= 0 {
		return
	}
	c.lastRecv.Store(0)
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	c.idleTimer = time.AfterFunc(c.cfg.Timeout, c.onIdle)
}

func (c *Conn) onIdle() {
	idle := time.Since(c.epoch) - time.Duration(c.lastRecv.Load())
	if idle >= c.cfg.Timeout {
		c.fail(ErrTimeout)
		return
	}
	c.rearm(&c.idleTimer, c.cfg.Timeout-idle)
}

// armKeepAlive starts sending keepalives once the stream is set up.
func (c *Conn) armKeepAlive() {
	if c.cfg.KeepAlive <= 0 {
		return
	}
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if c.kaTime == nil {
		c.kaTime = time.AfterFunc(c.cfg.KeepAlive, c.onKeepAlive)
	}
}

func (c *Conn) onKeepAlive() {
	quiet := time.Since(c.epoch) - time.Duration(c.lastSend.Load())
	if quiet >= c.cfg.KeepAlive {
		// A write in progress is as good as a keepalive.
		if c.writeMu.TryLock() {
			err := c.writeFrame(nil)
			c.writeMu.Unlock()
			if err != nil {
				c.log.Debug("secretstream: keepalive", "err", err)
				return
			}
		}
		quiet = 0
	}
	c.rearm(&c.kaTime, c.cfg.KeepAlive-quiet)
}

func (c *Conn) rearm(t **time.Timer, d time.Duration) {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if *t != nil {
		(*t).Reset(d)
	}
}

func (c *Conn) stopTimer(t **time.Timer) {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

func putUint24(b []byte, n int) {
	_ = b[2]
	b[0] = byte(n)
	b[1] = byte(n >> 8)
	b[2] = byte(n >> 16)
}

func getUint24(b []byte) int {
	_ = b[2]
	return int(b[0]) | int(b[1])<<8 | int(b[2])<<16
}

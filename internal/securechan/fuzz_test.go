package securechan

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

var fuzzServer, fuzzClient = mustIdentity(1), mustIdentity(2)

func mustIdentity(seed byte) *keys.Identity {
	id, err := keys.IdentityFromPrivate([32]byte{seed, 0x55, 31: seed})
	if err != nil {
		panic(err)
	}
	return id
}

// FuzzServerInit fuzzes the server's init parser: whatever arrives first,
// the server answers with server/error or server/init plus message 1.
func FuzzServerInit(f *testing.F) {
	ci, _ := wire.MarshalInit(&wire.ClientInit{ClientID: fuzzClient.Public(), Version: 1, Suite: keys.SuiteAESGCM})
	f.Add(ci)
	f.Add([]byte(`{"type":"client/init","payload":{"version":2}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		hs := &serverHandshake{id: fuzzServer, choose: func(keys.PublicKey) PSKChoice { return SentinelChoice },
			rnd: bytes.NewReader(make([]byte, 32))}
		reply, msg1, err := hs.onClientInit(raw)
		if err != nil {
			var ie *wire.InitError
			if !errors.As(err, &ie) {
				t.Fatalf("non-init error %v", err)
			}
			if _, se, perr := wire.ParseServerInit(reply); perr != nil || se == nil || se.Reason != ie.Reason {
				t.Fatalf("reply %q does not carry reason %s", reply, ie.Reason)
			}
			return
		}
		if _, _, perr := wire.ParseServerInit(reply); perr != nil {
			t.Fatal(perr)
		}
		if _, perr := noiseData(msg1, wire.FromServer); perr != nil {
			t.Fatal(perr)
		}
	})
}

// FuzzMessage1Payload fuzzes the payload of Noise message 1 as the client
// parses it: the server encrypts arbitrary bytes properly, so the input
// reaches the payload parser and the PSK lookup.
func FuzzMessage1Payload(f *testing.F) {
	good, _ := wire.HandshakePayload1{PSKID: keys.SentinelID, Category: wire.PSKSentinel}.Marshal()
	f.Add(good)
	f.Add([]byte(`{"psk_id":"GFsV9tLaSQm9HcFWpKsgYQOr7wFTvNUtkmFwuVz3zoo","psk_category":"lt"}`))
	f.Add([]byte(`{}`))
	pairing := keys.PSK{3}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > maxNoiseHandshakeMessage-64 {
			return
		}
		prologue := []byte("fuzz")
		shs, err := newNoise(keys.SuiteChaChaPoly, fuzzServer, fuzzClient.Public(), true, prologue, &keys.Sentinel, nil)
		if err != nil {
			t.Fatal(err)
		}
		msg1, _, _, err := shs.WriteMessage(nil, payload)
		if err != nil {
			t.Fatal(err)
		}
		c := &clientHandshake{id: fuzzClient, suite: keys.SuiteChaChaPoly, pairingPSK: pairing, initial: true, prologue: prologue}
		c.res.Peer = fuzzServer.Public()
		msg2, res, err := c.onMessage1(msg1)
		if err != nil {
			return
		}
		p, perr := wire.ParseHandshakePayload1(payload)
		if perr != nil {
			t.Fatalf("accepted a malformed payload %q", payload)
		}
		// Only the Sentinel can complete against this server.
		if _, _, _, err := shs.ReadMessage(nil, msg2); (err == nil) != (res.Matched.Category == wire.PSKSentinel) {
			t.Fatalf("payload %+v: matched %s, server read %v", p, res.Matched.Category, err)
		}
	})
}

// FuzzTransportReader feeds arbitrary frames to Conn.Read: some sealed
// with the right keys (so fragment and JSON handling see fuzzed
// plaintext), some raw. Read must return messages or a clean error.
func FuzzTransportReader(f *testing.F) {
	f.Add([]byte{0x80, 4, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 7})
	f.Add(append([]byte{0x80, 60, 0}, []byte(`{"type":"server/hello","payload":{"name":"x"}}`)...))
	f.Add([]byte{0x80, 3, 1, 2, 0, 0x80, 3, 1, 1, '{', 0x00, 5, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, stream []byte) {
		key := [32]byte{9}
		sealer, _ := newCipherStateFromKey(keys.SuiteAESGCM, key)
		rx, _ := newCipherStateFromKey(keys.SuiteAESGCM, key)
		a, b := Pipe()
		c := &Conn{t: b, role: RoleClient, from: wire.FromServer, rx: rx, closed: make(chan struct{}), timeout: DefaultHandshakeTimeout}
		var frames int
		for len(stream) >= 2 && frames < 64 {
			sealed, n := stream[0]&0x80 != 0, int(stream[1])
			stream = stream[2:]
			n = min(n, len(stream))
			body := stream[:n]
			stream = stream[n:]
			if sealed {
				body, _ = sealer.seal(nil, body)
			}
			if a.WriteFrame(Binary, body) != nil {
				break
			}
			frames++
		}
		a.Close()
		for range frames + 1 {
			in, err := c.Read()
			if err != nil {
				if c.Err() == nil {
					var pe *ProtocolError
					if !errors.As(err, &pe) {
						t.Fatalf("error %v did not end the connection", err)
					}
					continue
				}
				return
			}
			if in.Data == nil || (in.JSON == nil && in.ID == wire.IDJSON) {
				t.Fatalf("empty message %+v", in)
			}
		}
	})
}

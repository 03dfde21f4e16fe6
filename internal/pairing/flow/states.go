package flow

// ServerState is the state of a Server: where the pairing attempt of the
// current activation stands. Every handler checks it on entry.
type ServerState uint8

// The server states.
const (
	// ServerIdle: no pairing server/activate since the last Noise
	// handshake. Every pairing message is out of sequence.
	ServerIdle ServerState = iota + 1
	// ServerAwaitInit: pairing activated; waiting for client/pair-init
	// (or client/pair-pending) under ServerInitTimeout.
	ServerAwaitInit
	// ServerPending: the client reported client/pair-pending; still
	// waiting for client/pair-init.
	ServerPending
	// ServerAwaitCode: the attempt started (and in the dynamic flow
	// server/pair-init was sent); waiting for the operator's code.
	ServerAwaitCode
	// ServerAwaitAuth: server/pair-auth sent; waiting for client/pair-auth.
	ServerAwaitAuth
	// ServerAwaitConfirm: server/pair-confirm sent; waiting for
	// client/pair-confirm (or client/pair-retry in the dynamic flow).
	ServerAwaitConfirm
	// ServerAwaitFinalize: verified (or, Pairing PSK Flow, client/pair-init
	// received); waiting for client/pair-finalize.
	ServerAwaitFinalize
	// ServerPersisting: ServerPersistRecord handed out; waiting for
	// Persisted or PersistFailed.
	ServerPersisting
	// ServerRehandshake: server/pair-finalize sent; waiting for the
	// re-handshake to the new long-term PSK (Rehandshaked).
	ServerRehandshake
	// ServerEnded: the attempt ended by pair/abort or by leaving pairing;
	// pairing messages still in flight are discarded silently.
	ServerEnded
	// ServerClosed: the connection is closing; no more input.
	ServerClosed
)

var serverStateText = [...]string{
	ServerIdle:          "idle",
	ServerAwaitInit:     "await-init",
	ServerPending:       "pending",
	ServerAwaitCode:     "await-code",
	ServerAwaitAuth:     "await-auth",
	ServerAwaitConfirm:  "await-confirm",
	ServerAwaitFinalize: "await-finalize",
	ServerPersisting:    "persisting",
	ServerRehandshake:   "rehandshake",
	ServerEnded:         "ended",
	ServerClosed:        "closed",
}

func (s ServerState) String() string {
	if int(s) < len(serverStateText) && serverStateText[s] != "" {
		return serverStateText[s]
	}
	return "invalid"
}

// live reports whether an activation's attempt (started or not) can
// still be cancelled or aborted.
func (s ServerState) live() bool {
	return s >= ServerAwaitInit && s <= ServerAwaitFinalize
}

// ClientState is the state of a Client. Every handler checks it on entry.
type ClientState uint8

// The client states.
const (
	// ClientIdle: no pairing activation pending; every pairing message is
	// out of sequence.
	ClientIdle ClientState = iota + 1
	// ClientHeldBack: client/pair-pending sent; waiting for a window or a
	// round-limit reset (Tick).
	ClientHeldBack
	// ClientAwaitServerInit: dynamic: client/pair-init or
	// client/pair-retry sent; waiting for server/pair-init.
	ClientAwaitServerInit
	// ClientAwaitAuth: waiting for server/pair-auth (dynamic: the code is
	// being emitted; static: client/pair-init sent).
	ClientAwaitAuth
	// ClientAwaitConfirm: client/pair-auth sent; waiting for
	// server/pair-confirm.
	ClientAwaitConfirm
	// ClientAwaitFinalize: client/pair-finalize sent; waiting for
	// server/pair-finalize.
	ClientAwaitFinalize
	// ClientDone: server/pair-finalize arrived and the record was handed
	// out; waiting for the server's re-handshake.
	ClientDone
	// ClientAborted: this client sent pair/abort; pairing messages are
	// discarded silently until the next server/activate.
	ClientAborted
	// ClientEnded: the server aborted the attempt; a further pair/abort
	// has no effect.
	ClientEnded
	// ClientClosed: the connection is closing; no more input.
	ClientClosed
)

var clientStateText = [...]string{
	ClientIdle:            "idle",
	ClientHeldBack:        "held-back",
	ClientAwaitServerInit: "await-server-init",
	ClientAwaitAuth:       "await-auth",
	ClientAwaitConfirm:    "await-confirm",
	ClientAwaitFinalize:   "await-finalize",
	ClientDone:            "done",
	ClientAborted:         "aborted",
	ClientEnded:           "ended",
	ClientClosed:          "closed",
}

func (s ClientState) String() string {
	if int(s) < len(clientStateText) && clientStateText[s] != "" {
		return clientStateText[s]
	}
	return "invalid"
}

// inAttempt reports whether an attempt is in progress: from
// client/pair-init until success or abort (pairing.md "Entering and
// leaving pairing"). The attempt timeout runs in these states.
func (s ClientState) inAttempt() bool {
	return s >= ClientAwaitServerInit && s <= ClientAwaitFinalize
}

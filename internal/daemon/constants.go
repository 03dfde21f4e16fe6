package daemon

import "time"

// Ours (the spec leaves these to implementations).
const (
	// DefaultServerListen is the server's Sendspin listener; 8927 is the
	// port connection.md recommends for servers.
	DefaultServerListen = ":8927"
	// DefaultPlayerListen is the player's listener in server-initiated
	// mode; 8928 is the port connection.md recommends for clients.
	DefaultPlayerListen = ":8928"
	// DefaultConsole is the operator console's address: loopback only.
	DefaultConsole = "127.0.0.1:8929"

	// redialBase and redialMax bound the wait between connection attempts
	// to one peer (a dial that failed, or a session that ended and should
	// be retried).
	redialBase = 1 * time.Second
	redialMax  = 60 * time.Second
	// stableSession is how long a session must have lasted for the next
	// failure to count as the first again.
	stableSession = 30 * time.Second
	// shutdownGrace bounds the goodbyes on shutdown.
	shutdownGrace = 5 * time.Second
	// readHeaderTimeout bounds an HTTP request's headers.
	readHeaderTimeout = 10 * time.Second
	// controlTimeout bounds one control-socket exchange.
	controlTimeout = 10 * time.Second
	// controlStartup is how long an operator action waits for a starting
	// player's control socket.
	controlStartup = 5 * time.Second
	// maxControlRequest bounds a control-socket request (bytes).
	maxControlRequest = 64 << 10
)

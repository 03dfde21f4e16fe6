package discovery

import (
	"net/netip"
	"time"
)

// From the spec (connection.md "Server Initiated Connections" and
// "Client Initiated Connections").
const (
	// TypeClient is the service a client advertises in server-initiated
	// mode; servers browse for it.
	TypeClient = "_sendspin._tcp"
	// TypeServer is the service a server advertises; clients in
	// client-initiated mode browse for it.
	TypeServer = "_sendspin-server._tcp"
	// DefaultClientPort is the recommended client listening port.
	DefaultClientPort = 8928
	// DefaultServerPort is the recommended server listening port.
	DefaultServerPort = 8927
	// DefaultPath is the recommended value of the REQUIRED TXT path key.
	DefaultPath = "/sendspin"

	txtKeyPath = "path" // REQUIRED
	txtKeyName = "name" // OPTIONAL, a hint only
)

// From RFC 6762 (Multicast DNS) and RFC 6763 (DNS-SD).
const (
	mdnsPort   = 5353
	mdnsDomain = "local."
	// servicesMeta is the DNS-SD service type enumeration name (RFC 6763 §9).
	servicesMeta = "_services._dns-sd._udp.local."

	// ttlHost is the TTL in seconds of records naming or pointing at a
	// host name (SRV, A, AAAA), RFC 6762 §10.
	ttlHost = 120
	// ttlOther is the TTL in seconds of other records (PTR, TXT), RFC 6762 §10.
	ttlOther = 4500
	// ttlLegacyUnicast caps TTLs in answers to one-shot (legacy unicast)
	// queries, in seconds, RFC 6762 §6.7.
	ttlLegacyUnicast = 10
	// goodbyeGrace is how long a record announced with TTL 0 is kept
	// before it is treated as gone, RFC 6762 §10.1.
	goodbyeGrace = 1 * time.Second

	// recordRepeatMin is the least time between two multicasts of the same
	// record on one interface, RFC 6762 §6.
	recordRepeatMin = 1 * time.Second
	// sharedDelayMin and sharedDelayMax bound the random delay before
	// answering a query for a shared record (PTR), RFC 6762 §6.
	sharedDelayMin = 20 * time.Millisecond
	sharedDelayMax = 120 * time.Millisecond

	// announceCount announcements are sent at start, announceInterval
	// apart then doubling, RFC 6762 §8.3 (at least two, one second apart).
	announceCount    = 3
	announceInterval = 1 * time.Second

	// queryIntervalMin and queryIntervalMax bound the continuous browse
	// query interval, which doubles each time, RFC 6762 §5.2.
	queryIntervalMin = 1 * time.Second
	queryIntervalMax = 60 * time.Minute

	// maxServiceLabel is the longest service name label in bytes, without
	// the underscore, RFC 6763 §7.2.
	maxServiceLabel = 15
	// maxInstanceLen is the longest instance name in bytes, RFC 6763 §4.1.1.
	maxInstanceLen = 63
	// maxTXTString is the longest character-string in a TXT record, in
	// bytes, RFC 1035 §3.3.
	maxTXTString = 255
	// maxPacket is the largest mDNS message in bytes, RFC 6762 §17.
	maxPacket = 9000
)

// Ours: limits and timings this package chooses.
const (
	// MaxPathLen is the longest TXT path accepted or advertised, in bytes.
	MaxPathLen = 200
	// MaxNameLen is the longest TXT name accepted or advertised, in bytes;
	// a longer name from a peer is dropped (it is only a hint), the
	// instance is kept.
	MaxNameLen = 128
	// maxTXTTotal is the largest TXT rdata accepted from a peer, in bytes;
	// a larger record is ignored with its instance.
	maxTXTTotal = 1300
	// maxTXTStrings is the most character-strings accepted in one TXT record.
	maxTXTStrings = 32

	// DefaultMaxInstances bounds the instances a browser tracks (complete
	// or pending); more are ignored until some go.
	DefaultMaxInstances = 256
	// DefaultMaxPacketsPerSecond is the sustained rate of packets a
	// browser or an advertiser processes; the burst is twice this.
	// Packets beyond it are dropped unread.
	DefaultMaxPacketsPerSecond = 200
	// maxAddrsPerHost bounds the addresses kept for one host name.
	maxAddrsPerHost = 8
	// pendingTimeout is how long an instance seen only by its PTR waits
	// for its SRV, TXT and address before it is forgotten.
	pendingTimeout = 10 * time.Second
	// pendingQueryInterval is the least time between two queries for the
	// missing records of a pending instance.
	pendingQueryInterval = 1 * time.Second
	// maxKnownAnswers bounds the known answers put in one browse query.
	maxKnownAnswers = 24
	// maxQuestionsIn and maxKnownIn bound the questions and known answers
	// of a received query that are looked at; real queries carry a few.
	maxQuestionsIn = 32
	maxKnownIn     = 64
	// maxQueriesPerTick bounds the questions one browse tick sends.
	maxQueriesPerTick = 32
	// tickInterval is how often a browser expires records and sends due
	// queries.
	tickInterval = 250 * time.Millisecond
	// packetQueue is the number of received packets buffered between the
	// socket readers and the loop; more are dropped.
	packetQueue = 64
	// eventQueue is the buffer of a Browse channel; the browser waits when
	// it is full (events are never dropped).
	eventQueue = 64
	// maxResponseSize bounds the responses this package sends, in bytes,
	// to stay under a typical Ethernet MTU.
	maxResponseSize = 1400
)

// The mDNS groups, RFC 6762 §3.
var (
	groupV4 = netip.MustParseAddr("224.0.0.251")
	groupV6 = netip.MustParseAddr("ff02::fb")
)

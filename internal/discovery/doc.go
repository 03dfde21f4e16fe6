// Package discovery advertises and browses Sendspin services over
// Multicast DNS (RFC 6762) with DNS-SD (RFC 6763), as connection.md
// "Server Initiated Connections" and "Client Initiated Connections" define:
// a player in server-initiated mode advertises _sendspin._tcp and a server
// browses for it; a server advertises _sendspin-server._tcp and a player in
// client-initiated mode browses for it.
//
// It owns: the mDNS sockets (one per interface and address family), the
// records of an advertised instance (PTR, SRV, TXT path and name, A/AAAA),
// answering queries, announcing and saying goodbye, the browse cache with
// its TTLs, validation and bounds of what peers send, and building the
// ws:// URL a driver connects to. It is a driver-layer package: it starts
// goroutines, and every one of them ends when Close returns or the context
// given to Advertise or Browse is done.
//
// It must not: connect to anything, know about sessions or pairing, decide
// which discovered server to use, or trust the TXT name (connection.md: it
// is only a discovery-time hint; hello is authoritative). Enforcing the
// spec's "MUST NOT advertise _sendspin._tcp while using client-initiated
// connections" is the player driver's job: it must either Advertise or
// Browse for servers, never both at once.
//
// The pure parts (record building and answering in responder.go, the
// browse cache in cache.go, TXT and URL handling in txt.go) take the time
// as an argument and are tested with tables; the drivers (advertise.go,
// browse.go) own the sockets and the clock. Memory is an in-memory
// Advertiser and Browser for the unit tests of drivers.
package discovery

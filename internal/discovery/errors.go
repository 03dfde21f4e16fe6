package discovery

// Error is the kind of a discovery failure. Errors returned by this
// package wrap one of these, so callers test them with errors.Is.
type Error int

const (
	// ErrServiceType: the type is not a DNS-SD "_name._tcp" service type.
	ErrServiceType Error = iota + 1
	// ErrInstance: the instance name is empty, too long, or has control
	// characters.
	ErrInstance
	// ErrPort: the port is not in 1..65535.
	ErrPort
	// ErrPath: the TXT path does not start with '/', is too long, or has
	// characters a URL path cannot carry.
	ErrPath
	// ErrName: the TXT name is too long, not UTF-8, or has control
	// characters.
	ErrName
	// ErrHost: the host name is not a DNS label.
	ErrHost
	// ErrInterface: a named interface does not exist or cannot do multicast.
	ErrInterface
	// ErrNoSockets: no interface and family could be joined to the mDNS group.
	ErrNoSockets
	// ErrTXT: a TXT record is malformed or too large.
	ErrTXT
	// ErrNetwork: the network is not "", "ip4" or "ip6".
	ErrNetwork
)

var errorText = map[Error]string{
	ErrServiceType: "discovery: invalid service type",
	ErrInstance:    "discovery: invalid instance name",
	ErrPort:        "discovery: invalid port",
	ErrPath:        "discovery: invalid path",
	ErrName:        "discovery: invalid name",
	ErrHost:        "discovery: invalid host name",
	ErrInterface:   "discovery: unusable interface",
	ErrNoSockets:   "discovery: no multicast socket could be opened",
	ErrTXT:         "discovery: invalid TXT record",
	ErrNetwork:     "discovery: invalid network",
}

func (e Error) Error() string {
	if s, ok := errorText[e]; ok {
		return s
	}
	return "discovery: unknown error"
}

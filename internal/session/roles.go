package session

import (
	"slices"
	"strings"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// RoleKind says which kinds of state and streams a role carries, which
// decides the duties when it is removed (messaging.md "server/activate": role
// removal).
type RoleKind uint8

// Role kinds; a role may be several.
const (
	// KindServerStream: a server-to-client stream (stream/start, stream/end).
	KindServerStream RoleKind = 1 << iota
	// KindServerState: a server/state object.
	KindServerState
	// KindClientStream: a client-to-server stream (client-stream/*).
	KindClientStream
)

// KindFunc classifies a role. Application-specific roles are only known to
// their application; DefinedKind knows the spec's families.
type KindFunc func(wire.Role) RoleKind

// DefinedKind classifies the role families this revision defines
// (messaging.md "server/activate": player, artwork and visualizer have
// server-to-client streams; metadata, color and controller define
// server/state objects; roles/source/v1.md: source streams to the server).
// Other families, application-specific ones included, get 0.
func DefinedKind(r wire.Role) RoleKind {
	switch r.Family() {
	case "player", "artwork", "visualizer":
		return KindServerStream
	case "metadata", "color", "controller":
		return KindServerState
	case "source":
		return KindClientStream
	}
	return 0
}

// RoleChanges is the difference between the active roles before and after an
// activation. A version replacement (player@v1 to player@v2) removes the old
// version and adds the new one (messaging.md "server/activate": role removal
// includes replacement of an active role version).
type RoleChanges struct {
	Removed []wire.Role
	Added   []wire.Role
	// EndStreams are the removed roles with a server-to-client stream: the
	// server sends stream/end for each whose stream is active before the
	// activation (or before the re-handshake whose first activation removes
	// it); the client stops their output, clears buffers and releases
	// effects such as ducking.
	EndStreams []wire.Role
	// DiscardState are the removed roles with a server/state object: the
	// client discards their state and any pending scheduled update at once.
	DiscardState []wire.Role
	// StopSources are the removed roles with a client-to-server stream: the
	// client clears any start authorization, stops sending and ends its input
	// stream (roles/source/v1.md).
	StopSources []wire.Role
}

// Changed reports whether any role was removed or added.
func (c RoleChanges) Changed() bool { return len(c.Removed)+len(c.Added) > 0 }

// DiffRoles compares old and new active roles. kind may be nil for
// DefinedKind.
func DiffRoles(old, new []wire.Role, kind KindFunc) RoleChanges {
	if kind == nil {
		kind = DefinedKind
	}
	var c RoleChanges
	for _, r := range old {
		if slices.Contains(new, r) {
			continue
		}
		c.Removed = append(c.Removed, r)
		k := kind(r)
		if k&KindServerStream != 0 {
			c.EndStreams = append(c.EndStreams, r)
		}
		if k&KindServerState != 0 {
			c.DiscardState = append(c.DiscardState, r)
		}
		if k&KindClientStream != 0 {
			c.StopSources = append(c.StopSources, r)
		}
	}
	for _, r := range new {
		if !slices.Contains(old, r) {
			c.Added = append(c.Added, r)
		}
	}
	return c
}

// StreamEnds returns the unversioned role names the server must end with
// stream/end before sending the activation that makes changes c: the removed
// stream roles whose stream is active. The result is the roles field of one
// stream/end; nil means none is needed (the server must not send stream/end
// without an active stream).
func (c RoleChanges) StreamEnds(active func(family string) bool) []string {
	var out []string
	for _, r := range c.EndStreams {
		f := r.Family()
		if active(f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// requiredSupport reports whether version r requires a support object in
// client/hello and whether hello carries it (messaging.md "client/hello":
// player@v1, source@v1 and visualizer@v1 require one).
func requiredSupport(hello *wire.ClientHello, r wire.Role) (required, present bool) {
	switch r {
	case wire.RolePlayerV1:
		return true, hello.PlayerSupport != nil
	case wire.RoleSourceV1:
		return true, hello.SourceSupport != nil
	case wire.RoleVisualizerV1:
		return true, hello.VisualizerSupport != nil
	}
	return false, false
}

// wellFormed reports whether r has the form name@version with both parts
// non-empty (README "Role Versioning").
func wellFormed(r wire.Role) bool {
	return r.Family() != "" && r.Version() != "" && !strings.Contains(r.Version(), "@")
}

// definedRoles are the role versions this revision defines; a server
// implements all of them (README "Role Versioning").
var definedRoles = []wire.Role{
	wire.RolePlayerV1, wire.RoleSourceV1, wire.RoleControllerV1, wire.RoleMetadataV1,
	wire.RoleArtworkV1, wire.RoleVisualizerV1, wire.RoleColorV1,
}

// ImplementsDefined reports whether r is a role version this revision
// defines.
func ImplementsDefined(r wire.Role) bool { return slices.Contains(definedRoles, r) }

// RolePolicy is the server's part in choosing roles (README "Priority and
// Activation").
type RolePolicy struct {
	// Implements reports whether the server implements role version r; nil
	// means ImplementsDefined.
	Implements func(r wire.Role) bool
	// Omit reports whether server policy declines to activate the family of
	// r, the version that would otherwise be chosen (deployment context,
	// operator policy, paired or not). nil omits nothing.
	Omit func(r wire.Role) bool
}

// PreferredRoles picks the roles to activate from hello's priority list: per
// family, the first listed version the server implements whose required
// support object is present; none for a family the policy omits. It never
// returns a role the client did not list. It does not apply the
// unpaired-access gates; ServerView.SelectRoles does.
func PreferredRoles(hello *wire.ClientHello, p RolePolicy) []wire.Role {
	impl := p.Implements
	if impl == nil {
		impl = ImplementsDefined
	}
	var out []wire.Role
	decided := map[string]bool{}
	for _, r := range hello.SupportedRoles {
		if !wellFormed(r) || decided[r.Family()] || !impl(r) {
			continue
		}
		// A version whose required support object is missing must not be
		// activated (messaging.md "client/hello"); a later listed version of
		// the family may still be.
		if req, ok := requiredSupport(hello, r); req && !ok {
			continue
		}
		decided[r.Family()] = true
		if p.Omit != nil && p.Omit(r) {
			continue
		}
		out = append(out, r)
	}
	return out
}

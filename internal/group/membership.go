package group

import (
	"errors"
	"sort"
)

// Membership rules (messaging.md "External Source Handling", "client/leave",
// "group/update"; roles/controller/v1.md "Switch command cycle"):
//
//   - every client is in exactly one group; a client with the player role
//     starts in the server's default group, a client without one in a
//     solo group of its own until it gains the role (docs/SPEC-NOTES.md);
//   - a client that becomes unavailable, or sends client/leave, in a group
//     with other connected clients is moved to a new solo group, stopped,
//     and its group is remembered as the previous one; already alone, its
//     group's playback stops;
//   - it rejoins a group only by an explicit switch (here: the operator's
//     Join), never by becoming available again;
//   - membership is kept by client_id while the server runs, so a client
//     that reconnects is back in its group.
//
// The registry does no I/O and holds no clock: the server driver calls it
// under its lock and carries out the returned Effects (stopping playback,
// telling clients of their group).

// Group is a snapshot of one group.
type Group struct {
	ID   string
	Name string
	// Solo: created for one client (its solo group), removed once that
	// client is in another group.
	Solo bool
	// Members are the clients in the group, connected or not, in the
	// order they were placed.
	Members []string
}

// Effects is what a membership change asks of the server.
type Effects struct {
	// Stop lists groups whose playback must stop.
	Stop []string
	// Changed lists groups whose connected members must be told of their
	// group (group/update) and re-planned (streams, activations).
	Changed []string
	// Removed lists groups that no longer exist: their playback ends too.
	Removed []string
}

func (e *Effects) changed(ids ...string) {
	for _, id := range ids {
		if id != "" && !contains(e.Changed, id) {
			e.Changed = append(e.Changed, id)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Errors of the operator's actions.
var (
	ErrNoGroup  = errors.New("no such group")
	ErrNoClient = errors.New("no such client")
)

type entry struct {
	id, name string
	solo     bool
	members  []string
}

type member struct {
	group string
	// prev is the group left on becoming unavailable or on client/leave,
	// the switch cycle's first choice (roles/controller/v1.md "Previous
	// group priority").
	prev string
	// provisional: placed in a solo group for lack of the player role; it
	// moves to the default group when it gains the role.
	provisional bool
	name        string
	connected   int // open connections
}

// Registry holds the groups and who is in them.
type Registry struct {
	defaultID string
	newID     func() string
	groups    map[string]*entry
	members   map[string]*member
}

// NewRegistry returns a registry with one group, the default group, named
// name and identified by defaultID. newID supplies the identifiers of the
// groups it creates; it must not repeat itself.
func NewRegistry(defaultID, name string, newID func() string) *Registry {
	r := &Registry{defaultID: defaultID, newID: newID, groups: map[string]*entry{}, members: map[string]*member{}}
	r.groups[defaultID] = &entry{id: defaultID, name: name}
	return r
}

// DefaultID is the default group's identifier.
func (r *Registry) DefaultID() string { return r.defaultID }

// Connect records an open connection of client, named name, placing the
// client if it is new: in the default group with the player role, else in
// a solo group of its own.
func (r *Registry) Connect(client, name string, player bool) Effects {
	var e Effects
	m := r.members[client]
	if m == nil {
		m = &member{name: name}
		r.members[client] = m
		if player {
			r.move(client, m, r.defaultID, &e)
		} else {
			m.provisional = true
			r.move(client, m, r.newSolo(name), &e)
		}
	}
	m.connected++
	if name != "" {
		m.name = name
	}
	e.changed(m.group)
	return e
}

// Disconnect records a closed connection of client. Its membership stays.
func (r *Registry) Disconnect(client string) Effects {
	var e Effects
	m := r.members[client]
	if m == nil || m.connected == 0 {
		return e
	}
	// A group keeps playing with nobody connected, as a server started
	// with a source plays before any player connects.
	m.connected--
	e.changed(m.group)
	return e
}

// Roles records whether client has the player role now: a provisional
// client that gains it moves to the default group.
func (r *Registry) Roles(client string, player bool) Effects {
	var e Effects
	m := r.members[client]
	if m == nil || !player || !m.provisional {
		return e
	}
	m.provisional = false
	r.move(client, m, r.defaultID, &e)
	return e
}

// Leave applies messaging.md "Server behavior when a client becomes
// unavailable" (also client/leave): in a group with other connected
// clients, the client moves to a new solo group, stopped, remembering the
// group it left; alone in its group, that group's playback stops.
func (r *Registry) Leave(client string) Effects {
	var e Effects
	m := r.members[client]
	if m == nil {
		return e
	}
	g := r.groups[m.group]
	if r.connectedIn(g) > 1 {
		prev := g.id
		r.move(client, m, r.newSolo(m.name), &e)
		m.prev, m.provisional = prev, false
		return e
	}
	e.Stop = append(e.Stop, g.id)
	e.changed(g.id)
	return e
}

// Join moves client to group id: the operator's switch. A client joining
// the group it is in stays where it is.
func (r *Registry) Join(client, id string) (Effects, error) {
	var e Effects
	m := r.members[client]
	if m == nil {
		return e, ErrNoClient
	}
	if r.groups[id] == nil {
		return e, ErrNoGroup
	}
	m.provisional, m.prev = false, ""
	r.move(client, m, id, &e)
	return e, nil
}

// Previous is the group client left on becoming unavailable or by
// client/leave while it is still in the solo group it was moved to; ""
// otherwise.
func (r *Registry) Previous(client string) string {
	m := r.members[client]
	if m == nil || r.groups[m.prev] == nil {
		return ""
	}
	if g := r.groups[m.group]; g == nil || !g.solo {
		return ""
	}
	return m.prev
}

// Of is client's group; false for a client never connected.
func (r *Registry) Of(client string) (Group, bool) {
	m := r.members[client]
	if m == nil {
		return Group{}, false
	}
	return r.snapshot(r.groups[m.group]), true
}

// GroupID is the ID of client's group, without copying the group as Of
// does: a server checking every connection's group stays linear.
func (r *Registry) GroupID(client string) (string, bool) {
	m := r.members[client]
	if m == nil {
		return "", false
	}
	return m.group, true
}

// Label is the ID and name of client's group, without copying its
// members as Of does.
func (r *Registry) Label(client string) (id, name string, ok bool) {
	m := r.members[client]
	if m == nil {
		return "", "", false
	}
	g := r.groups[m.group]
	if g == nil {
		return "", "", false
	}
	return g.id, g.name, true
}

// Get is group id.
func (r *Registry) Get(id string) (Group, bool) {
	g := r.groups[id]
	if g == nil {
		return Group{}, false
	}
	return r.snapshot(g), true
}

// Groups lists the groups: the default group first, then by name and ID.
func (r *Registry) Groups() []Group {
	out := make([]Group, 0, len(r.groups))
	for _, g := range r.groups {
		out = append(out, r.snapshot(g))
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].ID == r.defaultID) != (out[j].ID == r.defaultID) {
			return out[i].ID == r.defaultID
		}
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Connected reports how many of group id's clients have an open
// connection.
func (r *Registry) Connected(id string) int {
	if g := r.groups[id]; g != nil {
		return r.connectedIn(g)
	}
	return 0
}

func (r *Registry) snapshot(g *entry) Group {
	return Group{ID: g.id, Name: g.name, Solo: g.solo, Members: append([]string(nil), g.members...)}
}

func (r *Registry) connectedIn(g *entry) int {
	n := 0
	for _, c := range g.members {
		if r.members[c].connected > 0 {
			n++
		}
	}
	return n
}

func (r *Registry) newSolo(name string) string {
	id := r.newID()
	for r.groups[id] != nil {
		id = r.newID()
	}
	r.groups[id] = &entry{id: id, name: name, solo: true}
	return id
}

// move puts client in group to, removing it from its old group; an old
// solo group left empty is removed, and its playback ends with it.
func (r *Registry) move(client string, m *member, to string, e *Effects) {
	from := m.group
	if from == to {
		return
	}
	if g := r.groups[from]; g != nil {
		for i, c := range g.members {
			if c == client {
				g.members = append(g.members[:i], g.members[i+1:]...)
				break
			}
		}
		if g.solo && len(g.members) == 0 {
			delete(r.groups, from)
			e.Removed = append(e.Removed, from)
		} else {
			e.changed(from)
		}
	}
	r.groups[to].members = append(r.groups[to].members, client)
	m.group = to
	e.changed(to)
}

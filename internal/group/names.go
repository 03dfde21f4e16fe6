package group

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Group names the operator gives (messaging.md "group/update": group_name
// is what players show). A name is trimmed; it must be non-empty, at most
// MaxNameLen characters, free of control characters, and not the name of
// another group (compared without case, as the operator's commands find
// groups by name).

// MaxNameLen is the longest group name, in characters. Ours.
const MaxNameLen = 64

// Errors of naming a group.
var (
	ErrBadName   = errors.New("bad group name")
	ErrNameTaken = errors.New("group name taken")
)

// CheckName returns name trimmed, or why it cannot name a group.
func CheckName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", fmt.Errorf("%w: give a name", ErrBadName)
	case !utf8.ValidString(name):
		return "", fmt.Errorf("%w: not UTF-8 text", ErrBadName)
	case utf8.RuneCountInString(name) > MaxNameLen:
		return "", fmt.Errorf("%w: %d characters, at most %d", ErrBadName, utf8.RuneCountInString(name), MaxNameLen)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", fmt.Errorf("%w: no control characters (tabs, line breaks)", ErrBadName)
	}
	return name, nil
}

// nameTaken is the ID of a group other than except named name.
func (r *Registry) nameTaken(name, except string) (string, bool) {
	for id, g := range r.groups {
		if id != except && strings.EqualFold(g.name, name) {
			return id, true
		}
	}
	return "", false
}

// Create makes an empty group named name, stopped; the operator moves
// players into it with Join.
func (r *Registry) Create(name string) (Group, error) {
	name, err := CheckName(name)
	if err != nil {
		return Group{}, err
	}
	if id, taken := r.nameTaken(name, ""); taken {
		return Group{}, fmt.Errorf("%w: group %s is already named %q", ErrNameTaken, id, r.groups[id].name)
	}
	id := r.newID()
	for r.groups[id] != nil {
		id = r.newID()
	}
	r.groups[id] = &entry{id: id, name: name}
	return r.snapshot(r.groups[id]), nil
}

// Rename gives group id a new name. A solo group renamed is the
// operator's: it stays when its client joins another group. Its connected
// members are to be told (Effects.Changed).
func (r *Registry) Rename(id, name string) (Group, Effects, error) {
	var e Effects
	g := r.groups[id]
	if g == nil {
		return Group{}, e, ErrNoGroup
	}
	name, err := CheckName(name)
	if err != nil {
		return Group{}, e, err
	}
	if other, taken := r.nameTaken(name, id); taken {
		return Group{}, e, fmt.Errorf("%w: group %s is already named %q", ErrNameTaken, other, r.groups[other].name)
	}
	if g.name != name {
		g.name = name
		g.solo = false
		e.changed(id)
	}
	return r.snapshot(g), e, nil
}

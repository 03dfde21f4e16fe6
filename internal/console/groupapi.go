package console

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tonearm-audio/tonearm/internal/group"
	"github.com/tonearm-audio/tonearm/internal/server"
)

// GroupNameRequest is the body of POST /api/groups (create) and POST
// /api/groups/{id}/rename: the group's name, trimmed, 1-64 characters,
// no control characters, not another group's.
type GroupNameRequest struct {
	Name string `json:"name"`
}

// GroupReply answers POST /api/groups and /api/groups/{id}/rename: the
// group as GET /api/groups shows it, and the line ctl prints.
type GroupReply struct {
	Group
	Message string `json:"message"`
}

func groupNameError(err error) error {
	switch {
	case errors.Is(err, group.ErrBadName):
		return errorf(http.StatusBadRequest, "%s", operatorText(err))
	case errors.Is(err, group.ErrNameTaken):
		return errorf(http.StatusConflict, "%s", operatorText(err))
	case errors.Is(err, server.ErrNoGroup):
		return errorf(http.StatusNotFound, "%s", operatorText(err))
	}
	return err
}

// groupEntry is group id as GET /api/groups shows it.
func (c *Console) groupEntry(id string) (Group, error) {
	l, err := c.groups(nil, nil)
	if err != nil {
		return Group{}, err
	}
	for _, g := range l.(GroupList).Groups {
		if g.ID == id {
			return g, nil
		}
	}
	return Group{}, errorf(http.StatusNotFound, "group %s went away", id)
}

func (c *Console) createGroup(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req GroupNameRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	g, err := c.cfg.Server.CreateGroup(req.Name)
	if err != nil {
		return nil, groupNameError(err)
	}
	c.cfg.Log.Info("operator created a group", "group", g.ID, "name", g.Name)
	e, err := c.groupEntry(g.ID)
	if err != nil {
		return nil, err
	}
	return GroupReply{Group: e, Message: fmt.Sprintf("created group %s (%s)", g.Name, g.ID)}, nil
}

func (c *Console) renameGroup(_ http.ResponseWriter, r *http.Request) (any, error) {
	old, err := c.resolveGroup(r.PathValue("id"), "")
	if err != nil {
		return nil, err
	}
	var req GroupNameRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	g, err := c.cfg.Server.RenameGroup(old.ID, req.Name)
	if err != nil {
		return nil, groupNameError(err)
	}
	c.cfg.Log.Info("operator renamed a group", "group", g.ID, "from", old.Name, "to", g.Name)
	e, err := c.groupEntry(g.ID)
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("renamed group %s (%s) to %s", old.Name, g.ID, g.Name)
	if old.Name == g.Name {
		msg = fmt.Sprintf("group %s (%s) already has that name", g.Name, g.ID)
	}
	return GroupReply{Group: e, Message: msg}, nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tonearm-audio/tonearm/internal/console"
)

// groupCmd runs `ctl group create NAME` and `ctl group rename GROUP NAME`
// (GROUP by ID or name). A name of several words may be given unquoted.
func (c *ctlClient) groupCmd(ctx context.Context, e *env, args []string, asJSON bool) error {
	if len(args) == 0 {
		return errors.New("ctl group: give create NAME or rename GROUP NAME")
	}
	var path string
	var req console.GroupNameRequest
	switch args[0] {
	case "create":
		if len(args) < 2 {
			return errors.New("ctl group create: give the new group's name")
		}
		path, req.Name = "/api/groups", strings.Join(args[1:], " ")
	case "rename":
		if len(args) < 3 {
			return errors.New("ctl group rename: give the group (ID or name) and its new name")
		}
		path, req.Name = "/api/groups/"+url.PathEscape(args[1])+"/rename", strings.Join(args[2:], " ")
	default:
		return fmt.Errorf("ctl group: unknown action %q: create NAME or rename GROUP NAME", args[0])
	}
	raw, err := c.do(ctx, http.MethodPost, path, req)
	if err != nil {
		return fmt.Errorf("ctl group %s: %w", args[0], err)
	}
	if asJSON {
		_, err := e.stdout.Write(raw)
		return err
	}
	var r console.GroupReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, r.Message)
	return nil
}

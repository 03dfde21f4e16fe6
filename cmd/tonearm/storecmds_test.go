package main

import (
	"os"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
	bolt "go.etcd.io/bbolt"
)

// scriptCmds are the scripts' tools for damaging a state directory the
// way a disk or an editor might.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// storeput FILE BUCKET KEY VALUE writes one raw entry into a bbolt file.
	"storeput": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 4 {
			ts.Fatalf("usage: storeput FILE BUCKET KEY VALUE")
		}
		db, err := bolt.Open(ts.MkAbs(args[0]), 0o600, nil)
		ts.Check(err)
		defer db.Close()
		ts.Check(db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(args[1]))
			if err != nil {
				return err
			}
			return b.Put([]byte(args[2]), []byte(args[3]))
		}))
	},
	// truncate FILE SIZE cuts a file to SIZE bytes.
	"truncate": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: truncate FILE SIZE")
		}
		n, err := strconv.ParseInt(args[1], 10, 64)
		ts.Check(err)
		ts.Check(os.Truncate(ts.MkAbs(args[0]), n))
	},
}

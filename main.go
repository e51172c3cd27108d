// Command portal serves the SalesOS customer portal: the admin API, the
// customer-facing API and pages, from one binary and one bbolt file (or an
// etcd cluster, built with -tags etcd). Its commands live in package cli.
package main

import (
	"context"
	"os"

	"github.com/salesos/portal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr))
}

//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

var errNoCgroups = errors.New("memory limit: cgroups are Linux only")

type memoryCgroup struct{}

func newMemoryCgroup(int64) (*memoryCgroup, error)  { return nil, errNoCgroups }
func (c *memoryCgroup) start(*exec.Cmd) error       { return errNoCgroups }
func (c *memoryCgroup) usage() (cgroupUsage, error) { return cgroupUsage{}, errNoCgroups }
func (c *memoryCgroup) mechanism() string           { return mechanismSoft }
func (c *memoryCgroup) remove() error               { return nil }
func dropCache(...string) error                     { return nil }
func majorFaults(int) (int64, error)                { return 0, errNoCgroups }

func launch(string, []string) error { return errNoCgroups }

//go:build !linux

package main

import (
	"errors"
	"time"
)

var errPin = errors.New("-pin is implemented on Linux only")

func splitCPUs() (int, []int, error)              { return 0, nil, errPin }
func pinProcess([]int) error                      { return errPin }
func startChild(string, int, int) (target, error) { return nil, errPin }
func machineBusy() (time.Duration, error)         { return 0, errPin }

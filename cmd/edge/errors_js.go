//go:build js

package main

import "errors"

// mapSocketError maps an error of connect(), opened, read or write where it
// enters Go (errors.go), keeping the runtime's message.
func mapSocketError(err error) error {
	var je *jsError
	if !errors.As(err, &je) {
		return err
	}
	return mapMessage(je.Message, je)
}

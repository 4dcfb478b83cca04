package main

import (
	"os"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
)

// serveNbio follows nbio's quick start: NewEngine with an OnData handler
// that writes the data back. nbio's examples copy data before Write
// (append([]byte{}, data...)); Conn.Write copies whatever the socket does not
// take at once into its own write list, so the copy is not needed and is
// left out here, which only helps nbio.
func serveNbio(addr string, contexts int) error {
	logging.Output = os.Stderr // keep stdout for the address line
	logging.SetLevel(logging.LevelWarn)
	engine := nbio.NewEngine(nbio.Config{
		Network:            "tcp",
		Addrs:              []string{addr},
		NPoller:            contexts,
		MaxWriteBufferSize: 6 * 1024 * 1024,
	})
	engine.OnData(func(c *nbio.Conn, data []byte) {
		c.Write(data)
	})
	if err := engine.Start(); err != nil {
		return err
	}
	defer engine.Stop()
	announce(engine.Addrs[0]) // Start replaced ":0" with the real port
	engine.Wait()
	return nil
}

package sys

// Option names a socket option the asio package sets, independent of the
// platform's levels and numbers, which SetOption translates.
type Option int

const (
	OptNoDelay        Option = iota // TCP_NODELAY
	OptKeepAlive                    // SO_KEEPALIVE
	OptSendBuffer                   // SO_SNDBUF
	OptReceiveBuffer                // SO_RCVBUF
	OptReuseAddr                    // SO_REUSEADDR
	OptReusePort                    // SO_REUSEPORT
	OptBroadcast                    // SO_BROADCAST
	OptV6Only                       // IPV6_V6ONLY
	OptMulticastLoop4               // IP_MULTICAST_LOOP
	OptMulticastLoop6               // IPV6_MULTICAST_LOOP
	OptMulticastHops4               // IP_MULTICAST_TTL
	OptMulticastHops6               // IPV6_MULTICAST_HOPS
	OptMulticastIf6                 // IPV6_MULTICAST_IF (an interface index)
	OptError                        // SO_ERROR (get only)
)

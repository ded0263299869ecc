"""The command line of the choreography monitor: order status, listings and pictures, local or deployed."""

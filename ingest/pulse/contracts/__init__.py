"""The contracts Pulse speaks: the Segment messages clients send and the enriched event it stores."""

"""MesoLive simulator: a generic SignalR hub server (:mod:`.hubserver`) plus the domain logic."""

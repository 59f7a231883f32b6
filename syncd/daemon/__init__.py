"""`syncd run`: the long-running service (watchers, scheduler, webhooks), its schedule and sd_notify."""

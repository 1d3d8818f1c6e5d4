"""Bad input: each mistake a user can make gets one clear message naming what to fix."""

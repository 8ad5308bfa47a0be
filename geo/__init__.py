"""IP to country: MaxMind-format databases, trusted CDN headers, and the database download."""

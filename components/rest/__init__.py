"""The `rest` component: an HTTP request per message."""

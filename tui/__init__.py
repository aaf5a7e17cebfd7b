"""The Textual war-room front end. Imports the core; the core never imports it."""

"""Local fakes of the chat platforms' servers, for driving the real client libraries in tests."""

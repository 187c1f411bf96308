def hello():
    return "hello from fssync"

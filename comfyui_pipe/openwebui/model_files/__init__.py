"""Model files on the ComfyUI servers, as admins manage them from the console: what each
folder holds and how large it is, downloads (resumable, checked, in this process, into
the models folder a server shares with it) and removals."""

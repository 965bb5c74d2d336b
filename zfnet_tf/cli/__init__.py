"""The `zfnet-tf` command line: one module per command family, each flags -> one library call.

Every module here that lists its commands in `COMMANDS` (`zfnet_tf.cli.command.Command`: name,
flags, and `run(args)`, whose docstring is the command's --help text) is picked up by
`zfnet_tf.cli.main`.
"""

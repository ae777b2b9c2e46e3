/* The ember command's subcommands (src/cli/; public API only). */
#ifndef EMBER_CLI_CLI_H
#define EMBER_CLI_CLI_H

/* `ember http ARGS`: argv holds the arguments after "http". Returns the exit
 * status. */
int ember_cli_http(int argc, char **argv);

/* `ember history LOG... [--port N]` and `ember history --list DIR`. */
int ember_cli_history(int argc, char **argv);
/* `ember db load|query ...` (db_cmd.c). */
int ember_cli_db(int argc, char **argv);

#endif

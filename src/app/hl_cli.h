/* hl_cli.h — command-line dispatch: serve, lambda, schema check, tables
 * create, version, --help (docs/interface.md §1). */
#ifndef HL_CLI_H
#define HL_CLI_H

int hl_cli_main(int argc, char **argv);

#endif

#include "app/hl_cli.h"
#include "common/hl_common.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f,
          "hookloop %s — webhook delivery engine\n"
          "usage:\n"
          "  hookloop serve [--config FILE]           run the service (HTTP API, processor, dispatcher)\n"
          "  hookloop lambda                          run as an AWS Lambda custom runtime\n"
          "  hookloop schema check SCHEMA [INSTANCE...]  validate JSON files against a JSON Schema\n"
          "  hookloop tables create                   create the DynamoDB tables\n"
          "  hookloop version                         print the version\n",
          HOOKLOOP_VERSION);
}

int hl_cli_main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("hookloop %s\n", HOOKLOOP_VERSION);
    return 0;
  }
  fprintf(stderr, "hookloop: unknown command '%s'; run 'hookloop --help' for the list\n", argv[1]);
  return 2;
}

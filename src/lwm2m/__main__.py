from lwm2m.cli.main import main

raise SystemExit(main())

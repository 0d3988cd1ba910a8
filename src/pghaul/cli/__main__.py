from pghaul.cli.commands import main

main()

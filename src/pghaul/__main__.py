from pghaul.cli import main

main()

from rsvision.cli import main

main()
